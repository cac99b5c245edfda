"""Channel adapters (Telegram, Twilio SMS/WhatsApp/voice, web chat) and outbound outreach.

Filled by the channel and outreach issues.
"""
