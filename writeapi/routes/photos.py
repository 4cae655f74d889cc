"""Photos: POST /v1/photos (multipart) and DELETE /v1/photos/{photo_id}."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from photoshare.commands.messages import DeletePhoto, PostPhoto
from photoshare.infra.media.images import PHOTO_VARIANTS
from photoshare.writeapi.deps import Services, UserBus, no_content, written
from photoshare.writeapi.schemas import PhotoCreated
from photoshare.writeapi.uploads import image_urls, image_variants, store_image

router = APIRouter(tags=["photos"])


@router.post("/v1/photos", status_code=201, response_model=PhotoCreated)
async def post_photo(response: Response, bus: UserBus, services: Services,
                     file: UploadFile = File(...),
                     caption: str = Form("", max_length=4000),
                     location: str = Form("", max_length=400),
                     tagged: str = Form("", max_length=2000)) -> PhotoCreated:
    image = await store_image(services, file, PHOTO_VARIANTS)
    usernames = tuple(name.strip().lstrip("@") for name in tagged.split(",") if name.strip())
    result = await bus.run(PostPhoto(owner_id=bus.actor_id, image=image, caption=caption,
                                     location=location, tagged_usernames=usernames))
    written(response, result)
    return PhotoCreated(photo_id=result.value, urls=image_urls(services, image),
                        variants=image_variants(services, image), placeholder=image.placeholder)


@router.delete("/v1/photos/{photo_id}", status_code=204)
async def delete_photo(photo_id: str, bus: UserBus, services: Services) -> Response:
    result = await bus.run(DeletePhoto(photo_id=photo_id, user_id=bus.actor_id))
    # The deletion is in the log: its original and variants go too (no other photo shares
    # them, their keys being salted per upload), so /media/<key> answers 404 from now on.
    # A blob that cannot be deleted is logged and left behind; the request still succeeds.
    await run_in_threadpool(services.images.discard, result.value)
    return no_content(result)
