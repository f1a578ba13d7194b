package report

// Page is one page of record summaries: what GET /results of the HTTP example
// and `typhon list -json` print. Its fields are in the order encoding/json gives
// a map's keys, the shape both printed before Page existed.
type Page struct {
	Limit   int       `json:"limit"`
	Offset  int       `json:"offset"`
	Results []Summary `json:"results"` // never nil: an empty page is []
	Total   int       `json:"total"`   // records on disk
}

// ListPage is List as a Page.
func (s *Store) ListPage(offset, limit int) (Page, error) {
	items, total, err := s.List(offset, limit)
	if err != nil {
		return Page{}, err
	}
	if items == nil {
		items = []Summary{}
	}
	return Page{Limit: limit, Offset: offset, Results: items, Total: total}, nil
}
