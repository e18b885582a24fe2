"""Loading, preprocessing, OCR engines, classification and field extraction."""
