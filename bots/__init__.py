"""Channel adapters (Telegram, Twilio SMS/WhatsApp/voice, web chat) and outbound outreach.

Each adapter turns its channel's payloads into one `dialogue.Inbound` and renders the dialogue's
`Reply`s back in the channel's own form:

- `bots.webchat`: the web chat and Rasa's REST JSON;
- `bots.telegram`: Telegram through aiogram (updates in, Bot API out);
- `bots.twilio`: the Twilio account, its signatures and REST client, shared by
- `bots.sms` (SMS and WhatsApp) and `bots.voice` (TwiML, reminder calls, call statuses);
- `bots.outbox`: how push-channel messages leave, once, with retries and a record;
- `bots.rasa_actions`: the Rasa action server (needs the `rasa` extra, so it is not imported here).
"""

from bots import outbox, sms, telegram, twilio, voice, webchat
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
    "outbox",
    "sms",
    "telegram",
    "twilio",
    "voice",
    "webchat",
]
