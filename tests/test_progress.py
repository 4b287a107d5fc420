"""The progress bar of `cu.fit` leaves one clean line in an executed notebook (and so in the book)."""

import nbclient
import nbformat

from tools.chapter_format import BOOK


def test_progress_bar_is_a_single_updated_display_in_a_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import torch, course_utils as cu\n"
            "from torch import nn\n"
            "X, y = torch.randn(512, 4), torch.randint(0, 3, (512,))\n"
            "model = nn.Linear(4, 3)\n"
            "history = cu.fit(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), X, y,\n"
            "                 num_epochs=3, batch_size=8)"
        )
    )
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}
    ).execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"], outputs
    text = outputs[0].data["text/plain"]
    assert "\r" not in text and "\n" not in text
    assert "192/192" in text and "train_loss" in text
