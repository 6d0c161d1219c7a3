package stack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
	"riverqueue.com/riverui"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/handlers"
)

// mountOperator adds the run index and River's queue UI (riverui at
// /riverui), both behind OPERATOR_TOKEN; without one they answer 404.
func (s *Server) mountOperator(ctx context.Context, r *mux.Router, cfg *app.Config, logger *slog.Logger) error {
	op := &handlers.Operator{Token: cfg.OperatorToken, Pool: s.Pool, Links: NewLinker(cfg), Logger: logger}
	if cfg.OperatorToken != "" {
		ui, err := riverui.NewHandler(&riverui.HandlerOpts{
			Endpoints: riverui.NewEndpoints(s.River, nil),
			Logger:    logger,
			Prefix:    "/riverui",
		})
		if err != nil {
			return fmt.Errorf("queue UI: %w", err)
		}
		// Its background services live as long as the server.
		uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if err := ui.Start(uctx); err != nil {
			cancel()
			return fmt.Errorf("start the queue UI: %w", err)
		}
		s.stopUI = cancel
		op.Queue = http.Handler(ui)
	}
	handlers.RegisterOperator(r, op)
	return nil
}
