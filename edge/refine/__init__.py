"""Mask refinement: a manifest-checked ONNX Mask2Former turns a detection crop into a mask."""
