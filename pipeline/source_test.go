package pipeline

import (
	"routewatch/collector"
	"routewatch/mrtdata"
)

// Every source enters the same way.
var (
	_ Source = (*collector.Collector)(nil)
	_ Source = (*mrtdata.Feed)(nil)
)
