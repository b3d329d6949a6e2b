"""Fields from a receipt's printed text: amounts, items, receipt number, date, payment.

``extract`` runs the built-in rules (``labels``, ``amounts``, ``items``, ``dates``,
``money``: the amount paid from the receipt's money ladder and its doubts, ``kinds``:
sale, refund, reprint, void, pre-bill or kitchen ticket), ``templates`` the
configured ones, ``fields`` holds the result and its confidence;
``mask`` / ``pan`` mask card, phone and member numbers before anything keeps the text.
"""
