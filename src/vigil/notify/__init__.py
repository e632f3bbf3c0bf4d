"""Notifications: the outbox dispatcher, MQTT (with Home Assistant discovery) and webhooks."""
