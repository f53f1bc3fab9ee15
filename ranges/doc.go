// Package ranges loads the IP ranges that cloud providers publish, keeps
// them fresh, and classifies announced prefixes against them.
//
// Sources (a "spec") are a FILE, an http(s) URL, or NAME=FILE / NAME=URL.
// The format is detected from the content, never from the name:
//
//   - AWS ip-ranges.json (prefixes[].ip_prefix, ipv6_prefixes[].ipv6_prefix,
//     region, service, network_border_group) — provider "aws"
//   - Google cloud.json (prefixes[].ipv4Prefix|ipv6Prefix, scope as region,
//     service) — provider "gcp"
//   - Azure Service Tags (values[].properties: region, systemService,
//     addressPrefixes) — provider "azure"
//   - Oracle public_ip_ranges.json (regions[].cidrs[].cidr, tags as
//     services) — provider "oracle"
//   - a plain list of CIDRs, one a line, '#' comments — provider NAME, so it
//     needs the NAME= form (e.g. cloudflare=ips-v4.txt)
//
// NAME= on a JSON file overrides the detected provider name.
//
// Official locations (DefaultSpecs):
//
//	aws        https://ip-ranges.amazonaws.com/ip-ranges.json
//	gcp        https://www.gstatic.com/ipranges/cloud.json
//	oracle     https://docs.oracle.com/iaas/tools/public_ip_ranges.json
//	cloudflare https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6
//
// Azure publishes its Service Tags file under a download URL that changes
// every week (ServiceTags_Public_YYYYMMDD.json behind
// https://www.microsoft.com/en-us/download/details.aspx?id=56519), so it has
// no default: give the downloaded file or its current URL as a spec.
//
// Matching (Set.Match) reports, for an announced prefix, the tags of every
// published range it equals, covers (a less-specific announcement over
// published ranges) or is covered by (a more-specific inside a published
// range). A prefix that matches nothing costs no allocation; the common
// results are shared, precomputed slices that callers must not modify.
package ranges
