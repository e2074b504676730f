"""Channels: fetch each feed from where its source system puts it into the landing directory.

Every channel writes the feed's file form plus its control file (feeds.md, "The landing
directory"), atomically: the landing directory holds the whole correct file or nothing of it.
"""
