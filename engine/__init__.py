"""cramgui engine: Qt-free training, generation and evaluation."""
