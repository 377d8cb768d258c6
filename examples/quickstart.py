"""Ten lines from product text to validated records with the embedded model (runs on a laptop CPU)."""
from extractor import Extractor

extractor = Extractor.from_pretrained("smollm2-135m", schema="apparel", k=3)
titles = [
    "Hanes Mens ComfortSoft Crew Neck Tee 6-Pack - Navy Blu, XL",
    "red 30cm cotton t-shirt",  # a shopper's search query works the same way
]
for record in extractor.extract(titles):
    print(record.status, record.attributes, record.spans)
