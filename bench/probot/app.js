// The minimal Probot app bench/intake.py compares against: every event is
// verified and routed by Probot, and nothing is done with it.
export default (app) => {
  app.onAny(async () => {});
};
