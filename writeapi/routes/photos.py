"""Photos: POST /v1/photos (multipart), PATCH and DELETE /v1/photos/{photo_id}."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from photoshare.commands import rules
from photoshare.commands.aggregates import Photo
from photoshare.commands.messages import ChangePhotoAltText, DeletePhoto, PostPhoto
from photoshare.infra.media.images import PHOTO_VARIANTS
from photoshare.writeapi.deps import Services, UserBus, no_content, written
from photoshare.writeapi.schemas import PhotoCreated, PhotoUpdate
from photoshare.writeapi.services import WriteServices
from photoshare.writeapi.uploads import image_urls, image_variants, store_image

router = APIRouter(tags=["photos"])


@router.post("/v1/photos", status_code=201, response_model=PhotoCreated)
async def post_photo(response: Response, bus: UserBus, services: Services,
                     file: UploadFile = File(...),
                     caption: str = Form("", max_length=4000),
                     location: str = Form("", max_length=400),
                     tagged: str = Form("", max_length=2000),
                     alt_text: str | None = Form(
                         None, max_length=6000,
                         description="what the photo shows, for people who cannot see it: "
                                     "at most 1,500 characters once cleaned as a caption "
                                     "is (longer: 422 `alt_text_too_long`)")) -> PhotoCreated:
    """Post a photo. `alt_text` is checked before the image is stored, so a bad one
    leaves nothing behind."""
    alt_text = rules.clean_alt_text(alt_text)
    image = await store_image(services, file, PHOTO_VARIANTS)
    usernames = tuple(name.strip().lstrip("@") for name in tagged.split(",") if name.strip())
    result = await bus.run(PostPhoto(owner_id=bus.actor_id, image=image, caption=caption,
                                     location=location, tagged_usernames=usernames,
                                     alt_text=alt_text))
    written(response, result)
    return PhotoCreated(photo_id=result.value, urls=image_urls(services, image),
                        variants=image_variants(services, image), placeholder=image.placeholder,
                        alt_text=alt_text)


@router.patch("/v1/photos/{photo_id}", response_model=PhotoCreated,
              responses={403: {"description": "not the photo's owner (`not_photo_owner`)"},
                         404: {"description": "no such photo, or it was deleted"},
                         422: {"description": "bad input, e.g. `alt_text_too_long`"}})
async def update_photo(photo_id: str, body: PhotoUpdate, response: Response, bus: UserBus,
                       services: Services) -> PhotoCreated:
    """Change a photo's alt text (owner only); null or an empty text removes it. Answers
    the photo as the upload does, with its new `alt_text`; the read API's photo shapes
    serve it once the `X-Event-Position` is read."""
    result = await bus.run(ChangePhotoAltText(photo_id=photo_id, user_id=bus.actor_id,
                                              alt_text=body.alt_text))
    written(response, result)
    return _photo(services, result.value)


@router.delete("/v1/photos/{photo_id}", status_code=204)
async def delete_photo(photo_id: str, bus: UserBus, services: Services) -> Response:
    result = await bus.run(DeletePhoto(photo_id=photo_id, user_id=bus.actor_id))
    # The deletion is in the log: its original and variants go too (no other photo shares
    # them, their keys being salted per upload), so /media/<key> answers 404 from now on.
    # A blob that cannot be deleted is logged and left behind; the request still succeeds.
    await run_in_threadpool(services.images.discard, result.value)
    return no_content(result)


def _photo(services: WriteServices, photo: Photo) -> PhotoCreated:
    return PhotoCreated(photo_id=str(photo.id), urls=image_urls(services, photo.image),
                        variants=image_variants(services, photo.image),
                        placeholder=photo.image.placeholder, alt_text=photo.alt_text)
