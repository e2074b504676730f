-- Remote file versions a channel has already fetched (path and checksum).
SELECT remote_path, sha256 FROM ops.channel_fetches WHERE channel = $channel;
