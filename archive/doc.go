// Package archive reads the public BGP archives of RIPE RIS and RouteViews
// by collector and time window and turns them into route.Batch values, as
// a source for the pipeline (Run) and as the bootstrap of a live feed
// (Bootstrap).
//
// For each collector it picks the RIB dump at or before the window's start
// (RIS bview every 8 h, RouteViews rib every 2 h) and the update files from
// that dump to the window's end (RIS every 5 min, RouteViews every 15 min),
// in the published layouts (Layout, ResolveCollector). Records from the
// dump's time on are read, so the state at the window's start is complete;
// records at or after the end are dropped. The collectors' record streams
// are merged by record time (mrtdata.Merger), ties in the order the
// collectors were given; route.Update.Source and route.PeerState.Source are
// the collector's name.
//
// Downloads go to a cache directory (Config.CacheDir, or a temporary one):
// complete files are reused, an interrupted download (NAME.part) resumes
// with a Range request, and a file counts as complete only when its size
// equals the server's Content-Length. Each collector's next files download
// while the current one decodes (Config.Prefetch). A missing update file
// (HTTP 404; RIS has gaps) and a truncated one are reported (log, Stats,
// metrics) and the run goes on; a missing RIB dump is fatal unless
// Config.RIBFallback allows earlier ones.
package archive
