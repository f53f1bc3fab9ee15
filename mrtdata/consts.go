package mrtdata

// MRT record types (RFC 6396, RFC 8050).
const (
	TypeTableDump   uint16 = 12
	TypeTableDumpV2 uint16 = 13
	TypeBGP4MP      uint16 = 16
	TypeBGP4MPET    uint16 = 17
)

// TABLE_DUMP subtypes are the AFI of the entry.
const (
	tdAFIIPv4 uint16 = 1
	tdAFIIPv6 uint16 = 2
)

// TABLE_DUMP_V2 subtypes.
const (
	SubPeerIndexTable     uint16 = 1
	SubRIBIPv4Unicast     uint16 = 2
	SubRIBIPv4Multicast   uint16 = 3
	SubRIBIPv6Unicast     uint16 = 4
	SubRIBIPv6Multicast   uint16 = 5
	SubRIBGeneric         uint16 = 6
	SubRIBIPv4UnicastAP   uint16 = 8
	SubRIBIPv4MulticastAP uint16 = 9
	SubRIBIPv6UnicastAP   uint16 = 10
	SubRIBIPv6MulticastAP uint16 = 11
	SubRIBGenericAP       uint16 = 12
)

// BGP4MP subtypes.
const (
	SubStateChange            uint16 = 0
	SubMessage                uint16 = 1
	SubMessageAS4             uint16 = 4
	SubStateChangeAS4         uint16 = 5
	SubMessageLocal           uint16 = 6
	SubMessageAS4Local        uint16 = 7
	SubMessageAddPath         uint16 = 8
	SubMessageAS4AddPath      uint16 = 9
	SubMessageLocalAddPath    uint16 = 10
	SubMessageAS4LocalAddPath uint16 = 11
)

// BGP path attribute type codes.
const (
	attrOrigin          = 1
	attrASPath          = 2
	attrNextHop         = 3
	attrMED             = 4
	attrLocalPref       = 5
	attrAtomicAggregate = 6
	attrAggregator      = 7
	attrCommunities     = 8
	attrMPReach         = 14
	attrMPUnreach       = 15
	attrAS4Path         = 17
	attrAS4Aggregator   = 18
	attrLargeCommunity  = 32
)

const (
	flagOptional   = 0x80
	flagTransitive = 0x40
	flagExtLen     = 0x10

	asTrans = 23456

	afiIPv4 = 1
	afiIPv6 = 2
)
