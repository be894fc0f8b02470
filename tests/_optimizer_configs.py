"""Optimizer configurations (class name, keyword arguments) shared by the optimizer tests."""

CONFIGS = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.8}),
    ("RMSprop", {"momentum": 0.5}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"centered": True, "momentum": 0.3, "learning_rate": 0.003}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99}),
    ("Adam", {"amsgrad": True}),
    ("SGD", {"clipnorm": 0.5}),
    ("RMSprop", {"clipnorm": 0.5}),
    ("RMSprop", {"clipvalue": 0.05}),
    ("Adam", {"clipvalue": 0.3}),
    ("Adam", {"global_clipnorm": 0.7}),
    ("SGD", {"global_clipnorm": 0.7, "momentum": 0.5}),
    ("Adam", {"weight_decay": 0.01}),
]
