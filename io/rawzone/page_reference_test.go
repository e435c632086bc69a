package rawzone

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
)

// EncodePageReference and DecodePageReference are EncodePage and DecodePage
// as they were before jsonscan and klauspost/compress: compress/gzip and
// json.Unmarshal. The match tests and FuzzDecodePageMatchesReference hold
// the new ones to them; EncodePageReference also makes objects as the old
// writer stored them.
var (
	EncodePageReference = encodePageReference
	DecodePageReference = decodePageReference
)

func encodePageReference(p PageObject) (name string, data []byte, err error) {
	p.Body = trimJSONSpace(p.Body)
	name, err = PageName(p)
	if err != nil {
		return "", nil, fmt.Errorf("encoding page: %w", err)
	}
	if !json.Valid(p.Body) {
		return "", nil, fmt.Errorf("encoding page %s: body is not valid JSON: %w", name, ErrInvalidPage)
	}
	body := p.Body
	p.Body = nil
	p.WindowStart, p.WindowEnd, p.FetchedAt = p.WindowStart.UTC(), p.WindowEnd.UTC(), p.FetchedAt.UTC()
	head, err := json.Marshal(p)
	if err != nil {
		return "", nil, fmt.Errorf("encoding page %s: %w", name, err)
	}
	const tail = `"body":null}`
	if !bytes.HasSuffix(head, []byte(tail)) {
		return "", nil, fmt.Errorf("encoding page %s: body is not the last field", name)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return "", nil, fmt.Errorf("encoding page %s: %w", name, err)
	}
	for _, part := range [][]byte{head[:len(head)-len("null}")], body, []byte("}")} {
		if _, err := zw.Write(part); err != nil {
			return "", nil, fmt.Errorf("encoding page %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return "", nil, fmt.Errorf("encoding page %s: %w", name, err)
	}
	return name, buf.Bytes(), nil
}

func decodePageReference(data []byte) (PageObject, error) {
	raw := data
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return PageObject{}, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
		}
		zr.Multistream(false)
		raw, err = io.ReadAll(io.LimitReader(zr, int64(maxPageObject)+1))
		if err != nil {
			return PageObject{}, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
		}
		if len(raw) > maxPageObject {
			return PageObject{}, fmt.Errorf("decoding page: larger than %d bytes: %w", maxPageObject, ErrInvalidPage)
		}
	}
	var p PageObject
	if err := json.Unmarshal(raw, &p); err != nil {
		return PageObject{}, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
	}
	if len(p.Body) == 0 || string(p.Body) == "null" {
		return PageObject{}, fmt.Errorf("decoding page: no body: %w", ErrInvalidPage)
	}
	return p, nil
}
