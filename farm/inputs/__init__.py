"""What comes into the farm from outside: glibc sources, patch series and patchwork.

`sources` fetches glibc trees and series into the cache (Debian's archive through
`debian_archive`, git remotes, mboxes, quilt directories), one reader per series source kind;
`series` parses patches (subjects, files touched, trailers) without fetching anything;
`patchwork_api` is the REST client and `patchwork_config` its token and target settings;
`try_sources` and `try_series` turn a series named by URL or branch into a scenario and
choose the base it applies to. Everything read here is a stranger's text and is bounded.
"""
