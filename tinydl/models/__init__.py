"""Reference models the lessons train: the seed CNNs (``from tinydl.models import Seed002Net``),
GPT (a decoder-only language model: ``from tinydl.models.gpt import GPT, GPTConfig``) and BERT
(an encoder with a classifier and pretrained loading: ``from tinydl.models import bert``)."""
from tinydl.models.cnn import LeNet5, Seed002Net, Seed004Net
