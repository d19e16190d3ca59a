// The page's event bus: modules talk through named events, never by reaching into each other.
//
//   server-event   {seq, type, payload, subject_type, subject_id, at, ...}  every event from the WebSocket
//   data           {kind: "items"|"conflicts"|"notices"|"incidents"|"liveness"|"threads"}  a store changed
//   time-filter    {start: Date, end: Date} | null                          the moment/window the map shows
//   select         {type: "activity"|"zone"|"conflict"|"incident"|"thread", id, source?}   source: the module
//                  that emitted it (so it can ignore its own); {type: "thread", id: null, link: {type, id},
//                  parties?} asks the hotline to start a new thread about that object, prefilled
//   language       "en"|"ar"|"tr"|"he"                                      the interface language changed
//   connection     {state: "up"|"reconnecting"|"down"}                      the WebSocket's state
//   draw-start     {shape: "polygon"|"circle"|"corridor", halfWidthM?}       the filing form asks the map to draw
//   draw-done      {shape, vertices?: [[lat, lon]…], center?: [lat, lon], radiusM?, path?: [[lat, lon]…], halfWidthM?}
//   draw-cancel    {}
//   preview        {volumes: [F3548 volume], conflicts: [conflict summaries]} | null   the form's candidate on the map
export class Bus {
  constructor() { this.target = new EventTarget(); }
  on(type, fn) {
    const h = (e) => fn(e.detail);
    this.target.addEventListener(type, h);
    return () => this.target.removeEventListener(type, h);
  }
  emit(type, detail) { this.target.dispatchEvent(new CustomEvent(type, { detail })); }
}
