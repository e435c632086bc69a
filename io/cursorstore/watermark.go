package cursorstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrWatermarkRegressed is returned by SaveWatermark for a watermark earlier
// than the stored one.
var ErrWatermarkRegressed = errors.New("watermark would move backwards")

// WatermarkKey returns the key of a source's watermark: "watermark/<source>".
func WatermarkKey(source string) string { return "watermark/" + source }

type watermarkDoc struct {
	Watermark time.Time `json:"watermark"`
}

// LoadWatermark returns the source's watermark (the end of the newest fully
// done window span of a promoted run) and its version. An absent watermark
// yields the zero time and version 0.
func LoadWatermark(ctx context.Context, s Store, source string) (time.Time, int64, error) {
	key := WatermarkKey(source)
	d, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, 0, nil
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("loading watermark %q: %w", key, err)
	}
	var w watermarkDoc
	if err := json.Unmarshal(d.Body, &w); err != nil {
		return time.Time{}, 0, fmt.Errorf("loading watermark %q: decoding version %d: %w", key, d.Version, err)
	}
	return w.Watermark, d.Version, nil
}

// SaveWatermark stores t (in UTC) as the source's watermark if the stored
// version is still version, and returns the new version. Returns an error
// wrapping ErrConflict if another writer got there first, or
// ErrWatermarkRegressed if t is before the stored watermark; in either case
// nothing is written. Saving the same watermark again is allowed.
func SaveWatermark(ctx context.Context, s Store, source string, version int64, t time.Time) (int64, error) {
	key := WatermarkKey(source)
	prev, stored, err := LoadWatermark(ctx, s, source)
	if err != nil {
		return 0, fmt.Errorf("saving watermark: %w", err)
	}
	if stored != version {
		return 0, fmt.Errorf("saving watermark %q at version %d: stored version is %d: %w", key, version, stored, ErrConflict)
	}
	if t.Before(prev) {
		return 0, fmt.Errorf("saving watermark %q: %s is before the stored %s: %w",
			key, t.UTC().Format(time.RFC3339Nano), prev.UTC().Format(time.RFC3339Nano), ErrWatermarkRegressed)
	}
	body, err := json.Marshal(watermarkDoc{Watermark: t.UTC()})
	if err != nil {
		return 0, fmt.Errorf("saving watermark %q: encoding: %w", key, err)
	}
	v, err := putCAS(ctx, s, key, version, body)
	if err != nil {
		return 0, fmt.Errorf("saving watermark %q: %w", key, err)
	}
	return v, nil
}
