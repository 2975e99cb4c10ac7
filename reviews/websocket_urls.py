from django.urls import path

from .consumers import QueueConsumer

websocket_urlpatterns = [path("ws/reviews/", QueueConsumer.as_asgi())]
