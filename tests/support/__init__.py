"""What only the tests use: JupyterLab for the browser test, lab grading helpers."""
