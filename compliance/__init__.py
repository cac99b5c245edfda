"""Whether a contact may happen, what may be said, and the tamper-evident record of it.

Filled by the compliance issue: contact decisions, content screening, disclosures, audit trail.
"""
