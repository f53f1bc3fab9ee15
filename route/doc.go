// Package route holds routewatch's domain types: the normalized BGP update
// that every source (MRT archive, live BGP session) produces, peer session
// state, provider tags and events. It imports nothing else of ours so every
// other package can share it; library types (gobgp, go-redis, echo) never
// appear here.
package route
