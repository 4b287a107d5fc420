"""course_utils: the small shared toolbox of the course. Import it as ``import course_utils as cu``.

Modules, by topic: `repro` (seeds, device), `data` (datasets as tensors), `train` (the training
loop), `plot` (the house style and plots), `models` (shared model builders), `notebook` (glue),
`checks` (exercise self-checks, one module per chapter), and the interactive pieces of the book's
pages: `explore` (explorable figures), `quiz` (quizzes) and `digit_pad` (draw a digit for the CNN).
"""

from .checks.cnns import check_cnn_shapes, check_im2col, check_max_pool, check_small_cnn
from .checks.dense_networks import (
    check_dense_gradients,
    check_hidden_width,
    check_regression_backprop,
    check_softmax_jacobian,
)
from .checks.linear_models import check_mae_gradients, check_normal_equations, check_online_epoch
from .checks.optimizers import check_adagrad, check_cosine_lr, check_stable_lr
from .checks.overfitting import check_cross_validation, check_ridge_free_intercept, check_split
from .data import MNISTData, data_dir, load_mnist, make_cubic_regression, standardize_images, tiny_digits
from .digit_pad import digit_pad
from .explore import explorable
from .explorers import conv_explorer, descent_explorer, fit_explorer, path_explorer
from .models import mlp
from .notebook import glue
from .plot import COLORS, plot_history, plot_losses, set_style, show_digits
from .quizzes import quiz
from .repro import get_device, set_seed
from .train import History, check_xy, evaluate, fit, predict

__version__ = "0.1.0"
