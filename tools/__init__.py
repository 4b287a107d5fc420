"""Tools for authors and instructors, run from a checkout of the repository (not installed).

    python -m tools.assign book/ -o student/        # student versions of the chapters
    python -m tools.grade submitted/ -o scores.csv  # grade submitted notebooks
    python -m tools.nbtools sync-colab | clear      # notebook maintenance

`tools.chapter_format` names the parts of the chapter format that the tools, the tests and the
benchmarks read. The learner's package, `course_utils`, holds only what the chapters import.
"""
