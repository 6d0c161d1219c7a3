package modelproxy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

//go:embed prices.json
var defaultPrices []byte

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	Input  float64 `json:"input"`
	Cached float64 `json:"cached"`
	Output float64 `json:"output"`
}

// Prices maps a model name prefix to its price.
type Prices map[string]Price

// LoadPrices returns the table kept in the repo (prices.json), with the
// entries of the file at override (MODEL_PRICES) on top when it is set.
func LoadPrices(override string) (Prices, error) {
	p := Prices{}
	if err := p.merge(defaultPrices); err != nil {
		return nil, fmt.Errorf("model prices: the built-in table: %w", err)
	}
	if override != "" {
		b, err := os.ReadFile(override)
		if err != nil {
			return nil, fmt.Errorf("model prices: %w", err)
		}
		if err := p.merge(b); err != nil {
			return nil, fmt.Errorf("model prices: %s: %w", override, err)
		}
	}
	return p, nil
}

func (p Prices) merge(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for k, v := range raw {
		if strings.HasPrefix(k, "_") {
			continue
		}
		var pr Price
		if err := json.Unmarshal(v, &pr); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		p[k] = pr
	}
	return nil
}

// Cost is what u tokens of model cost, and whether the model's price is
// known. input counts every prompt token, cached ones included.
func (p Prices) Cost(model string, input, cached, output int) (float64, bool) {
	best, found := "", false
	for k := range p {
		if strings.HasPrefix(model, k) && len(k) > len(best) {
			best, found = k, true
		}
	}
	if !found {
		return 0, false
	}
	pr := p[best]
	uncached := max(input-cached, 0)
	return (float64(uncached)*pr.Input + float64(cached)*pr.Cached + float64(output)*pr.Output) / 1e6, true
}
