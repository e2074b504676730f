-- The stored watermark of a channel and feed, if any.
SELECT watermark FROM ops.channel_watermarks WHERE channel = $channel AND feed = $feed;
