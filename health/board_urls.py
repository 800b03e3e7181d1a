from django.urls import path

from health import board_views

urlpatterns = [
    path("", board_views.board_page, name="health-board"),
    path("panel/<slug:name>/", board_views.board_panel, name="health-board-panel"),
    path("review/<int:anomaly_id>/", board_views.board_review, name="health-board-review"),
    path(
        "alerts/<int:incident_id>/acknowledge/",
        board_views.board_alert_acknowledge,
        name="health-board-alert-acknowledge",
    ),
    path(
        "score/<slug:component>/",
        board_views.board_score_orders,
        name="health-board-score-orders",
    ),
]
