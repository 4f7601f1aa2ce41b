

def test_is_vietnamese_tells_a_caption_from_the_article_around_it():
    from rag.text import is_vietnamese

    assert is_vietnamese("Các bộ trưởng nhất trí thúc đẩy chuyển đổi số.")
    assert is_vietnamese("Nguồn: Vụ Chính sách Thương mại Đa biên")
    assert not is_vietnamese("The 16th Mekong–Japan Foreign Ministers’ Meeting is held in Kuala Lumpur. (Photo: Bộ Ngoại giao)")
    assert not is_vietnamese("Kuala Lumpur, Malaysia.")
