-- Advance a channel's watermark (only after its landing file is complete).
INSERT OR REPLACE INTO ops.channel_watermarks VALUES ($channel, $feed, $watermark, now()::TIMESTAMP);
