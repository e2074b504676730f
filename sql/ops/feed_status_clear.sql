DELETE FROM ops.feed_status WHERE extract_date = $extract_date AND feed = $feed
