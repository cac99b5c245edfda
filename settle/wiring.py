"""Building from settings: the dialogue engine (encoder, NLU, abuse screen) and the channels.

The sentence encoder is loaded once per process and handed to both the NLU (dialogue) and the
abuse detector (compliance); compliance only knows the small protocol it declares. The channels
are on when their credentials are set, and share one outbox.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bots.outbox import Outbox, Transport
from bots.sms import message_transports
from bots.telegram import TelegramChannel
from bots.twilio import TwilioAccount
from bots.voice import VoiceCaller
from compliance.screening import AbuseDetector
from dialogue import Dialogue, DialogueSettings, Nlu, load_nlu
from dialogue.encoder import shared_encoder
from models import Channel
from settle.settings import ConfigError, Settings

# The country whose numbering a phone typed without its country code is read in.
REGION_OF_JURISDICTION = {"us_reg_f": "US", "cn": "CN", "uk": "GB"}


def dialogue_settings(settings: Settings) -> DialogueSettings:
    return DialogueSettings(
        profile=settings.jurisdiction,
        default_region=REGION_OF_JURISDICTION[settings.jurisdiction],
        verification_ttl=timedelta(minutes=settings.verification_ttl_minutes),
        payment_link_template=settings.payment_link_template,
        business_name=settings.business_name,
        callback_number=settings.callback_number,
    )


@functools.cache
def shared_detector() -> AbuseDetector:
    """The abuse detector with the process's one encoder (cached, shared with the NLU)."""
    return AbuseDetector(encoder=shared_encoder())


def build_nlu(settings: Settings) -> Nlu:
    """The NLU, from the cached model at `settings.nlu_model_path` (trained first if stale)."""
    return load_nlu(shared_encoder(), path=settings.nlu_model_path)


def build_dialogue(settings: Settings, sessions: sessionmaker[Session]) -> Dialogue:
    return Dialogue(
        sessions=sessions,
        nlu=build_nlu(settings),
        settings=dialogue_settings(settings),
        detector=shared_detector(),
    )


# --- channels -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channels:
    """The channels the settings switch on, their outbox, and what the log says about each."""

    outbox: Outbox
    telegram: TelegramChannel | None
    twilio: TwilioAccount | None
    caller: VoiceCaller
    notes: tuple[str, ...]

    @property
    def pushes(self) -> bool:
        """Whether any channel sends through the outbox (and a sweeper should run)."""
        return bool(self.outbox.transports)


def twilio_account(settings: Settings) -> TwilioAccount | None:
    """The Twilio account when SID, auth token and sender number are all set."""
    if (
        settings.twilio_account_sid is None
        or settings.twilio_auth_token is None
        or settings.twilio_from_number is None
    ):
        return None
    return TwilioAccount(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        from_number=settings.twilio_from_number,
        whatsapp_from=settings.twilio_whatsapp_from,
        public_base_url=settings.public_base_url,
        api_url=settings.twilio_api_url,
    )


def telegram_channel(settings: Settings) -> TelegramChannel | None:
    """The Telegram bot when its token is set; None: Telegram is off.

    With a token but no webhook secret the channel can poll and send; its webhook stays off.
    """
    if settings.telegram_bot_token is None:
        return None
    secret = settings.telegram_webhook_secret
    return TelegramChannel(
        token=settings.telegram_bot_token.get_secret_value().strip(),
        webhook_secret=secret.get_secret_value() if secret is not None else None,
        api_url=settings.telegram_api_url,
    )


def voice_caller(settings: Settings) -> VoiceCaller:
    """Who calls; `ConfigError` when the name or number would make a call's opening unlawful."""
    try:
        return VoiceCaller(
            business_name=settings.business_name,
            callback_number=settings.callback_number,
            collector_number=settings.collector_number,
        )
    except ValueError as exc:
        raise ConfigError(f"SETTLE_BUSINESS_NAME / SETTLE_CALLBACK_NUMBER: {exc}") from None


def build_channels(settings: Settings, sessions: sessionmaker[Session]) -> Channels:
    """Every channel the settings configure, sharing one outbox."""
    telegram = telegram_channel(settings)
    twilio = twilio_account(settings)
    transports: dict[Channel, Transport] = {}
    notes: list[str] = []
    if telegram is None:
        notes.append(
            "Telegram is off: set SETTLE_TELEGRAM_BOT_TOKEN and SETTLE_TELEGRAM_WEBHOOK_SECRET"
        )
    else:
        transports[Channel.TELEGRAM] = telegram.transport
        notes.append(f"Telegram is on: {telegram!r}")
        if not telegram.webhook_enabled:
            notes.append(
                "Telegram webhook is off (polling only): set SETTLE_TELEGRAM_WEBHOOK_SECRET"
            )
    if twilio is None:
        notes.append(
            "SMS, WhatsApp and voice are off: set SETTLE_TWILIO_ACCOUNT_SID, "
            "SETTLE_TWILIO_AUTH_TOKEN and SETTLE_TWILIO_FROM_NUMBER"
        )
    else:
        transports.update(message_transports(twilio))
        notes.append(
            f"SMS and voice are on: {twilio.from_number}, webhooks signed for "
            f"{twilio.public_base_url}"
        )
        if twilio.whatsapp_sender() is None:
            notes.append("WhatsApp is off: set SETTLE_TWILIO_WHATSAPP_FROM")
    return Channels(
        outbox=Outbox(sessions=sessions, transports=transports),
        telegram=telegram,
        twilio=twilio,
        caller=voice_caller(settings),
        notes=tuple(notes),
    )
