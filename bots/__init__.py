"""Channel adapters (Telegram, Twilio SMS/WhatsApp/voice, web chat) and outbound outreach.

Each adapter turns its channel's payloads into one `dialogue.Inbound` and renders the dialogue's
`Reply`s back in the channel's own form. Built so far: the web chat (`bots.webchat`), which
speaks Rasa's REST JSON.
"""

from bots import webchat
from bots.webchat import (
    ChatLinkError,
    DemoBorrower,
    InvalidMessage,
    WebChatOutput,
    demo_borrowers,
)

__all__ = [
    "ChatLinkError",
    "DemoBorrower",
    "InvalidMessage",
    "WebChatOutput",
    "demo_borrowers",
    "webchat",
]
