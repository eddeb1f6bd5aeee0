"""Reference models the lessons train (``from tinydl.models import Seed002Net``)."""
from tinydl.models.cnn import LeNet5, Seed002Net, Seed004Net
