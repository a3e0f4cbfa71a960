// The events a webhook receiver may ask for (config `webhooks.receivers[].events`), in a file of their
// own so the config schema and the webhooks share them without importing each other.
export const WebhookEventKinds = ["drain-done", "drain-blocked", "migration-failed", "wake-failed", "plan-proposed"] as const;
export type WebhookEventKind = (typeof WebhookEventKinds)[number];
