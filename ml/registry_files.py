"""What every saved-model folder under COMPTOIR_HOME/models/<family>/ shares."""

# The file naming the latest version of a model family (written last, atomically, when a version is complete).
LATEST_FILE = "LATEST"
