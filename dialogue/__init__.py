"""Understanding borrowers and answering them: NLU, the dialogue manager and its actions.

Filled by the dialogue issue.
"""
