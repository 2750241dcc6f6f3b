"""Frame sources: cameras (RTSP, V4L2), recordings (video file, image folder) and the synthetic
conveyor, behind one small interface (:class:`edge.sources.frame.FrameSource`).

Typical use, one capture thread per camera, newest frame wins::

    from edge.sources.factory import start_capture

    cap = start_capture(settings.source, "station-1", on_status=publish_status)
    try:
        for frame in cap.frames(timeout=1.0):  # Frame: image (BGR uint8), seq, ts_ns, mono_ns
            ...
    finally:
        cap.close()  # joins the thread; bounded even while a camera hangs

Nothing is imported here so that loading the settings does not load OpenCV.
"""
