"""The Functional API without Keras: graph errors, gradients through shared tensors and
initial states (against finite differences), structures of inputs/outputs, save/load."""
import numpy as np
import pytest

import fastrnn
from fastrnn import layers as L
from fastrnn.saving import ModelFileError
from reference import numeric_grad

RNG = np.random.default_rng(3)


def test_disconnected_input_is_an_error_naming_the_layer():
    a = fastrnn.Input((4,), name="a")
    b = fastrnn.Input((4,), name="b")
    out = L.Dense(2, name="uses_b")(b)
    with pytest.raises(ValueError, match=r"Graph disconnected.*'uses_b'"):
        fastrnn.Model(a, out)


def test_output_not_depending_on_inputs_is_an_error():
    a = fastrnn.Input((4,), name="a")
    other = fastrnn.Input((4,), name="other")
    with pytest.raises(ValueError, match="Graph disconnected"):
        fastrnn.Model(a, [L.Dense(1)(a), L.Dense(1, name="from_other")(other)])


def test_tensor_from_another_model_is_an_error():
    a = fastrnn.Input((3,), name="a")
    m1 = fastrnn.Model(a, L.Dense(2, name="d1")(a))
    b = fastrnn.Input((3,), name="b")
    with pytest.raises(ValueError, match="Graph disconnected"):
        fastrnn.Model(b, L.Dense(1, name="d2")(m1.outputs[0]))


def test_merge_shape_mismatch_names_both_layers_and_shapes():
    a = fastrnn.Input((5, 3), name="a")
    left = L.LSTM(4, name="left")(a)
    right = L.LSTM(6, return_sequences=True, name="right")(a)
    with pytest.raises(ValueError, match=r"'left' \(None, 4\).*'right' \(None, 5, 6\)"):
        L.Concatenate()([left, right])
    with pytest.raises(ValueError, match=r"'left' \(None, 4\).*'right2' \(None, 6\)"):
        L.Add()([left, L.LSTM(6, name="right2")(a)])


def test_non_symbolic_values_are_rejected():
    with pytest.raises(ValueError, match="symbolic tensors"):
        fastrnn.Model(np.zeros((2, 3)), fastrnn.Input((3,)))
    a = fastrnn.Input((3,))
    with pytest.raises(TypeError, match="mix symbolic tensors"):
        L.Add()([a, np.zeros((1, 3), np.float32)])
    with pytest.raises(TypeError, match="holds no data"):
        np.asarray(a)


def test_inputs_must_come_from_Input():
    a = fastrnn.Input((3,))
    mid = L.Dense(2)(a)
    with pytest.raises(ValueError, match="not a model input"):
        fastrnn.Model(mid, L.Dense(1)(mid))


def _check_grads(model, x, y, loss):
    """The weight gradients a training step computes equal finite differences of the loss."""
    model.compile(optimizer=fastrnn.optimizers.SGD(learning_rate=0.0), loss=loss)
    xs = model._inputs(x)
    ys = model._targets(y)

    def value():
        preds, masks = model._run(xs, training=False)
        return float(model._compile_loss.value(ys, preds, model._output_logits(), masks))
    model.train_on_batch(x, y)
    for layer in model.layers:
        for w, g in zip(layer.weights, layer.grads or []):
            if g is None:
                continue
            g = g.to_dense() if hasattr(g, "to_dense") else g
            num = numeric_grad(value, w, eps=1e-3)
            assert np.isfinite(g).all()
            np.testing.assert_allclose(g, num, rtol=3e-2, atol=2e-3)


def test_gradients_of_a_tensor_used_twice_add_up():
    a = fastrnn.Input((4,))
    h = L.Dense(3, activation="tanh")(a)
    out = L.Dense(1)(L.Concatenate()([h, L.Multiply()([h, h]), L.Dense(2)(h)]))
    model = fastrnn.Model(a, out)
    _check_grads(model, RNG.standard_normal((5, 4)).astype("float32"),
                 RNG.standard_normal((5, 1)).astype("float32"), "mse")


def test_gradients_flow_into_initial_state_and_shared_layers():
    enc_in = fastrnn.Input((4, 3))
    dec_in = fastrnn.Input((3, 2))
    _, h, c = L.LSTM(3, return_state=True)(enc_in)
    shared = L.Dense(3, activation="tanh")
    seq = L.LSTM(3, return_sequences=True)(dec_in, initial_state=[shared(h), shared(c)])
    model = fastrnn.Model([enc_in, dec_in], L.Dense(2)(seq))
    x = [RNG.standard_normal((4, 4, 3)).astype("float32"),
         RNG.standard_normal((4, 3, 2)).astype("float32")]
    _check_grads(model, x, RNG.standard_normal((4, 3, 2)).astype("float32"), "mse")


def test_dict_inputs_and_outputs_and_predict_structure():
    a = fastrnn.Input((3,), name="a")
    b = fastrnn.Input((2,), name="b")
    out1 = L.Dense(1, name="sum")(L.Concatenate()([a, b]))
    out2 = L.Dense(2, name="other")(a)
    model = fastrnn.Model({"a": a, "b": b}, {"sum": out1, "other": out2})
    x = {"a": RNG.standard_normal((6, 3)).astype("float32"),
         "b": RNG.standard_normal((6, 2)).astype("float32")}
    pred = model.predict(x, batch_size=4)
    assert set(pred) == {"sum", "other"} and pred["sum"].shape == (6, 1)
    model.compile("sgd", loss={"sum": "mse", "other": "mae"})
    logs = model.train_on_batch(x, {"sum": np.zeros((6, 1)), "other": np.zeros((6, 2))},
                                return_dict=True)
    assert set(logs) == {"loss", "sum_loss", "other_loss"}
    with pytest.raises(ValueError, match=r"missing input\(s\) \['b'\]"):
        model.predict({"a": x["a"]})


def test_wrong_number_of_inputs_is_a_clear_error():
    a, b = fastrnn.Input((3,), name="a"), fastrnn.Input((3,), name="b")
    model = fastrnn.Model([a, b], L.Add()([a, b]))
    with pytest.raises(ValueError, match=r"2 inputs \['a', 'b'\].*list of 2 arrays"):
        model.predict(np.zeros((2, 3)))


def test_functional_save_load_round_trip(tmp_path):
    enc_in = fastrnn.Input((None, 3), name="enc")
    dec_in = fastrnn.Input((None, 2), name="dec")
    _, h = L.GRU(4, return_state=True, name="encoder")(enc_in)
    seq = L.GRU(4, return_sequences=True, name="decoder")(dec_in, initial_state=[h])
    model = fastrnn.Model([enc_in, dec_in], L.Dense(2, name="head")(seq), name="s2s")
    model.compile(optimizer="adam", loss="mse")
    x = [RNG.standard_normal((3, 5, 3)).astype("float32"),
         RNG.standard_normal((3, 4, 2)).astype("float32")]
    model.train_on_batch(x, np.zeros((3, 4, 2), np.float32))
    path = tmp_path / "s2s.fnrn"
    model.save(path)
    back = fastrnn.load_model(path)
    assert type(back).__name__ == "Functional" and back.name == "s2s"
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    assert back.optimizer.iterations == 1
    back.train_on_batch(x, np.zeros((3, 4, 2), np.float32))
    model.train_on_batch(x, np.zeros((3, 4, 2), np.float32))
    for w1, w2 in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(w1, w2)


def test_damaged_functional_config_is_a_model_file_error(tmp_path):
    a = fastrnn.Input((3,), name="a")
    model = fastrnn.Model(a, L.Dense(1, name="d")(a))
    path = tmp_path / "m.fnrn"
    model.save(path)
    cfg = model.get_config()
    cfg["output_layers"] = [["missing", 0, 0]]
    with pytest.raises(ValueError, match="does not exist"):
        fastrnn.models.Functional.from_config(cfg)


def test_sequential_is_a_functional_model():
    m = fastrnn.Sequential([fastrnn.Input((5,)), L.Dense(3), L.Dense(1)])
    assert isinstance(m, fastrnn.models.Functional)
    assert [type(layer).__name__ for layer in m.layers] == ["Dense", "Dense"]
    m = fastrnn.Sequential([fastrnn.Input((4, 2)), L.LSTM(3, return_state=True)])
    assert [o.shape for o in m.predict(np.zeros((2, 4, 2)))] == [(2, 3)] * 3


def test_sequential_rejects_several_tensors_before_the_last_layer():
    with pytest.raises(ValueError, match=r"'st' returns 3 tensors but the next layer 'd'"):
        fastrnn.Sequential([fastrnn.Input((4, 2)), L.LSTM(3, return_state=True, name="st"),
                            L.Dense(1, name="d")])
