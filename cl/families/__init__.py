"""Model families (cl.families.base): language models and classifiers; build.py picks one by the stream."""
