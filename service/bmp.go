package service

import (
	"fmt"

	"routewatch/bmpstation"
	"routewatch/pipeline"
	"routewatch/route"
)

// newBMP builds the BMP station when `bmp.enabled` is set (roles all and
// collector). It feeds the same channel as the BGP collector; its watch
// predicate is the ranges in force, so unwatched routes never reach the
// pipeline.
func (s *Service) newBMP() error {
	role := s.cfg.Pipeline.Role
	if !s.cfg.BMP.Enabled || (role != RoleAll && role != RoleCollector) {
		return nil
	}
	st, err := bmpstation.New(s.cfg.BMP, tagWatcher(s.tagger), s.logger, s.reg)
	if err != nil {
		return fmt.Errorf("service: bmp station: %w", err)
	}
	s.bmp = st
	return nil
}

// tagWatcher keeps the announcements the ranges in force tag (by prefix or
// by a watched origin ASN); the engine tags them again.
type tagWatcher func() pipeline.Tagger

func (w tagWatcher) Watched(u *route.Update) bool {
	w().Tag(u)
	return len(u.Tags) > 0
}

var _ pipeline.Source = (*bmpstation.Station)(nil)
