"""PyTorch (CPU, eager): nn.Embedding -> nn.LSTM/GRU/RNN(batch_first) -> nn.Linear.

Training uses BCEWithLogitsLoss (sigmoid + binary cross-entropy fused, the same function as
Keras' Dense(sigmoid) + binary_crossentropy) and RMSprop(lr=1e-3, alpha=0.9, eps=1e-7), the
Keras defaults. One difference stays: PyTorch adds eps outside the square root
(g / (sqrt(v) + eps)), Keras inside (g / sqrt(v + eps)); the cost is the same.
Stacked layers use num_layers, Bidirectional bidirectional=True; the classifier reads the last
layer's final hidden state(s) (for a bidirectional layer: forward's last step and backward's
first step, as Keras' Bidirectional with return_sequences=False).
"""
import torch
from torch import nn

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "simple_rnn": nn.RNN}


def setup(threads):
    torch.set_num_threads(int(threads))
    try:
        torch.set_num_interop_threads(int(threads))
    except RuntimeError:   # already started: keep the default
        pass


def recurrent_block(cfg):
    return CELLS[cfg["cell"]](cfg["E"], cfg["H"], num_layers=cfg["stack"], batch_first=True,
                              bidirectional=cfg["bidir"])


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cell, self.bidir = cfg["cell"], cfg["bidir"]
        self.embedding = nn.Embedding(cfg["vocab"], cfg["E"])
        self.rnn = recurrent_block(cfg)
        self.fc = nn.Linear(cfg["H"] * (2 if cfg["bidir"] else 1), 1)

    def forward(self, ids):
        _, state = self.rnn(self.embedding(ids))
        h_n = state[0] if self.cell == "lstm" else state   # [layers*dirs, B, H]
        last = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.bidir else h_n[-1]
        return self.fc(last)   # logits


class Bench:
    def __init__(self, cfg, data):
        torch.manual_seed(0)
        self.cfg = cfg
        self.model = Net(cfg)
        self.block = recurrent_block(cfg)
        self.loss = nn.BCEWithLogitsLoss()
        self.opt = torch.optim.RMSprop(self.model.parameters(), lr=0.001, alpha=0.9, eps=1e-7)
        self.ids = torch.from_numpy(data["ids"]).long()
        self.labels = torch.from_numpy(data["labels"])
        self.features = torch.from_numpy(data["features"])
        self.ids1 = torch.from_numpy(data["ids1"]).long()

    def train(self):
        self.opt.zero_grad(set_to_none=True)
        logits = self.model(self.ids)
        loss = self.loss(logits, self.labels)
        loss.backward()
        self.opt.step()
        # the running accuracy every Keras seed reports (compile(metrics=["accuracy"]))
        self.hits = ((logits.detach() > 0) == (self.labels > 0.5)).sum()
        return loss

    def infer(self):
        with torch.inference_mode():
            return self.block(self.features)

    def latency(self):
        with torch.inference_mode():
            return torch.sigmoid(self.model(self.ids1))

    def info(self):
        return {"torch": torch.__version__, "threads": torch.get_num_threads(),
                "interop_threads": torch.get_num_interop_threads(),
                "mkldnn": bool(torch.backends.mkldnn.is_available())}
