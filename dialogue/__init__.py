"""The dialogue: understanding borrowers (NLU), deciding what to do (policies), doing it against
the servicing store (flows), and answering in their language through the compliance screens.

Channels call `Dialogue.handle(inbound, output)`; nothing here imports a web or channel library.
"""

from dialogue.encoder import SentenceEncoder, load_encoder
from dialogue.engine import Dialogue, InvalidInbound
from dialogue.linking import LinkTokenError, issue_link_token, redeem_link_token
from dialogue.messages import Button, Inbound, InboundKind, Reply, TurnResult
from dialogue.nlu.evaluation import evaluate_held_out, false_actions
from dialogue.nlu.parser import Nlu, ParseResult
from dialogue.nlu.store import DataFiles, data_files, load_nlu, train_model
from dialogue.output import CollectingOutput, Output, numbered_text
from dialogue.responses import languages, templates
from dialogue.state import ConversationState
from dialogue.turn import DialogueSettings

__all__ = [
    "Button",
    "CollectingOutput",
    "ConversationState",
    "DataFiles",
    "Dialogue",
    "DialogueSettings",
    "Inbound",
    "InboundKind",
    "InvalidInbound",
    "LinkTokenError",
    "Nlu",
    "Output",
    "ParseResult",
    "Reply",
    "SentenceEncoder",
    "TurnResult",
    "data_files",
    "evaluate_held_out",
    "false_actions",
    "issue_link_token",
    "languages",
    "load_encoder",
    "load_nlu",
    "numbered_text",
    "redeem_link_token",
    "templates",
    "train_model",
]
