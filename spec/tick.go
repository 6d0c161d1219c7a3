package spec

import "fmt"

// Tick returns a copy of src, the spec at path, with obligation id's box
// ticked: "[ ]" becomes "[x]" and no other byte changes, so line endings,
// front matter and formatting survive the bot's commit. Ticking a done
// obligation returns an unchanged copy. The path matters because ids
// without an explicit "[id]" are derived from it.
//
// Tick works on a spec that fails lint for unrelated reasons, so a problem
// elsewhere in the file never stops the bot from recording finished work.
func Tick(path string, src []byte, id string) ([]byte, error) {
	s, _ := parse(path, src, false, "")
	return s.Tick(id)
}

// Tick returns a copy of the spec's source with obligation id ticked; see
// the package-level Tick. For an issue, write the result back as its body.
func (s *Spec) Tick(id string) ([]byte, error) {
	o := s.byID[id]
	if o == nil {
		return nil, fmt.Errorf("tick %s in %s: %w", id, s.Path, ErrUnknownID)
	}
	if o.Box < 0 {
		return nil, fmt.Errorf("tick %s in %s: %w", id, s.Path, ErrNoCheckbox)
	}
	out := append([]byte(nil), s.src...)
	if !o.Done {
		out[o.Box+1] = s.doneMarker()
	}
	return out, nil
}

// doneMarker is the file's own way of writing a done box: "X" when that is
// all it uses (Spec Kit's implement writes "[X]"), else "x".
func (s *Spec) doneMarker() byte {
	c := byte('x')
	for _, o := range s.Obligations {
		switch o.Marker {
		case 'x':
			return 'x'
		case 'X':
			c = 'X'
		}
	}
	return c
}
