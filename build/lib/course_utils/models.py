"""Model builders that several chapters share.

`mlp` is explained in chapter 4 (`dense_networks`) and reused in chapter 5 for comparison.
"""

from torch import nn


def mlp(num_inputs: int = 784, num_hidden: int = 128, num_outputs: int = 10) -> nn.Sequential:
    """A multi-layer perceptron with one ReLU hidden layer.

    Input of shape (N, ...) is flattened to (N, num_inputs); the output is logits (N, num_outputs).
    """
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(num_inputs, num_hidden),
        nn.ReLU(),
        nn.Linear(num_hidden, num_outputs),
    )
