package archive

import "github.com/prometheus/client_golang/prometheus"

// metrics of the archive reader. They count over the process's life (every
// Run and Bootstrap); Stats describes the last one.
type metrics struct {
	files, missing, failed, truncated, corrupt prometheus.Counter
	bytes                                      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "routewatch", Subsystem: "archive", Name: name, Help: help})
	}
	m := &metrics{
		files:     c("files_total", "Archive files read (RIB dumps and update files)."),
		missing:   c("missing_files_total", "Archive files the server does not have (HTTP 404/410)."),
		failed:    c("failed_files_total", "Archive files that could not be downloaded or opened."),
		truncated: c("truncated_files_total", "Archive files that end inside a record or a compressed block."),
		corrupt:   c("corrupt_records_total", "Archive records that did not decode."),
		bytes:     c("downloaded_bytes_total", "Bytes downloaded from the archives (cache hits excluded)."),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.files, m.missing, m.failed, m.truncated, m.corrupt, m.bytes} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}
