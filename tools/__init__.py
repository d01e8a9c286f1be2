"""Small command-line tools the workflows run (.github/workflows): setting the image in the stack
files, smoke-testing a deployed stack. Each is also runnable by hand; see docs/deploying.md."""
